// Held-out interactions (valid and test splits), for diagnostics only - never for learning.
// Returns: src (user id), dst (item id), split.
MATCH (u:User)-[r:RATED]->(i:Item)
WHERE r.split <> 'train'
RETURN u.id AS src, i.id AS dst, r.split AS split
