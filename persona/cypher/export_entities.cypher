// Every attribute / entity node (all labels but User, Item and the bookkeeping labels Run and Store) with its text embedding.
// Returns: label, id, text_emb.
// @embedded
MATCH (n)
WHERE label(n) <> 'User' AND label(n) <> 'Item' AND label(n) <> 'Run' AND label(n) <> 'Store'
RETURN label(n) AS label, n.id AS id, n.text_emb AS text_emb
// @neo4j
MATCH (n)
WHERE NOT n:User AND NOT n:Item AND NOT n:Run AND NOT n:Store
RETURN labels(n)[0] AS label, n.id AS id, n.text_emb AS text_emb
