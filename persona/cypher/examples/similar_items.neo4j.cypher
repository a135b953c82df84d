// Neo4j: items whose text embedding is closest to item $item (vector index `item_text_emb_vector`).
MATCH (it:Item {id: $item})
CALL db.index.vector.queryNodes('item_text_emb_vector', 11, it.text_emb) YIELD node, score
WHERE node <> it
RETURN node.id AS item, node.title AS title, round(score, 3) AS cosine
LIMIT 10;
