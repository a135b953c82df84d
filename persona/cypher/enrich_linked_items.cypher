// Items linked to a knowledge-graph resource (Item.iri), for `persona enrich dbpedia`.
MATCH (i:Item) WHERE i.iri IS NOT NULL
RETURN i.id AS id, i.iri AS iri
ORDER BY id
