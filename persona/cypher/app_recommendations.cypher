// Explorer: the RECOMMENDED lists written back for a user, by run then rank, with their reasons
// (`reason`: the best path in words, `why`: the top paths as JSON, see persona/explain.py).
MATCH (u:User {id: $id})-[r:RECOMMENDED]->(i:Item)
RETURN r.run AS run, r.rank AS rank, i.id AS item, i.title AS title, r.score AS score,
       r.reason AS reason, r.why AS why
ORDER BY run, rank, item
