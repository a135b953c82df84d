// User-item interactions of the training split only: learning never sees valid/test.
// Returns: src (user id), dst (item id), pos (chronological position within the user).
MATCH (u:User)-[r:RATED]->(i:Item)
WHERE r.split = 'train'
RETURN u.id AS src, i.id AS dst, r.pos AS pos
