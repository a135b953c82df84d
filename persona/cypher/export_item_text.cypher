// Item text fields and current embedding (text encoding, LLM descriptions).
// Returns: id, title, description, categories, generated_description, domain, text_emb, emb_model.
MATCH (i:Item)
RETURN i.id AS id, i.title AS title, i.description AS description, i.categories AS categories,
       i.generated_description AS generated_description, i.domain AS domain,
       i.text_emb AS text_emb, i.emb_model AS emb_model
