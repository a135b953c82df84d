// Every attribute / entity node (all labels but User and Item) with its text embedding.
// Returns: label, id, text_emb.
// @embedded
MATCH (n)
WHERE label(n) <> 'User' AND label(n) <> 'Item'
RETURN label(n) AS label, n.id AS id, n.text_emb AS text_emb
// @neo4j
MATCH (n)
WHERE NOT n:User AND NOT n:Item
RETURN labels(n)[0] AS label, n.id AS id, n.text_emb AS text_emb
