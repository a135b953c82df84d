// Attribute / entity names and current embeddings (text encoding, extractive summaries).
// Returns: label, id, name, text_emb, emb_model.
// @embedded
MATCH (n)
WHERE label(n) <> 'User' AND label(n) <> 'Item' AND label(n) <> 'Run' AND label(n) <> 'Store'
RETURN label(n) AS label, n.id AS id, n.name AS name, n.text_emb AS text_emb, n.emb_model AS emb_model
// @neo4j
MATCH (n)
WHERE NOT n:User AND NOT n:Item AND NOT n:Run AND NOT n:Store
RETURN labels(n)[0] AS label, n.id AS id, n.name AS name, n.text_emb AS text_emb, n.emb_model AS emb_model
