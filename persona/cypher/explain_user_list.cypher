// A user's written-back list of one run, best first (persona explain).
// Returns: rank, item, title, score.
MATCH (u:User {id: $user})-[r:RECOMMENDED]->(i:Item)
WHERE r.run = $run
RETURN r.rank AS rank, i.id AS item, i.title AS title, r.score AS score
ORDER BY rank
