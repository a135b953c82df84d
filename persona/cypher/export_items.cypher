// Every item with its text embedding, if any (persona export). Returns: id, text_emb.
MATCH (i:Item)
RETURN i.id AS id, i.text_emb AS text_emb
