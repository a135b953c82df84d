// Explorer: the RECOMMENDED lists written back for a user, by run then rank.
MATCH (u:User {id: $id})-[r:RECOMMENDED]->(i:Item)
RETURN r.run AS run, r.rank AS rank, i.id AS item, i.title AS title, r.score AS score
ORDER BY run, rank, item
