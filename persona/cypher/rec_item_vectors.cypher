// Item text embeddings (written by `persona train personas`).
MATCH (i:Item)
WHERE i.text_emb IS NOT NULL
RETURN i.id AS id, i.text_emb AS vec
