// Explanations: each user's SIMILAR users (by persona) of the newest run.
// Returns: src, dst, rank.
MATCH (a:User)-[s:SIMILAR]->(b:User)
RETURN a.id AS src, b.id AS dst, s.rank AS rank
