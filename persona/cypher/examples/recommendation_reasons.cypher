// Why each item of a user's list is recommended: the run's reason and its scored graph paths (JSON).
// Parameters: $user. Runs on both stores.
MATCH (u:User {id: $user})-[r:RECOMMENDED]->(i:Item)
RETURN r.rank AS rank, i.title AS title, r.reason AS reason, r.why AS why
ORDER BY rank
