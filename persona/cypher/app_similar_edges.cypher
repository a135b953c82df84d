// Explorer: the user's SIMILAR users written by the newest run (by persona cosine), best first.
MATCH (u:User {id: $id})-[s:SIMILAR]->(v:User)
RETURN v.id AS user, s.score AS similarity, s.rank AS rank, s.run AS run
ORDER BY rank, user
