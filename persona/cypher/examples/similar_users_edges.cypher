// A user's most similar users by persona, as written back by the newest run (SIMILAR edges, GDS KNN style),
// with how many training items each pair shares. Parameters: $user. Runs on both stores.
MATCH (u:User {id: $user})-[s:SIMILAR]->(v:User)
OPTIONAL MATCH (u)-[a:RATED]->(i:Item)<-[b:RATED]-(v)
WHERE a.split = 'train' AND b.split = 'train'
RETURN v.id AS user, s.rank AS rank, s.score AS score, count(i) AS shared_items
ORDER BY rank
