// Every relationship whose source is not a user: ALSO_BUY/ALSO_VIEW, item -> attribute/entity edges of
// every type, entity -> entity edges. Never SIMILAR: those are a run's output, not knowledge. One generic query, so no type name is spliced into Cypher text.
// Returns: src_label, rel, dst_label, src, dst.
// @embedded
MATCH (a)-[r]->(b)
WHERE label(a) <> 'User' AND label(r) <> 'SIMILAR'
RETURN label(a) AS src_label, label(r) AS rel, label(b) AS dst_label, a.id AS src, b.id AS dst
// @neo4j
MATCH (a)-[r]->(b)
WHERE NOT a:User AND type(r) <> 'SIMILAR'
RETURN labels(a)[0] AS src_label, type(r) AS rel, labels(b)[0] AS dst_label, a.id AS src, b.id AS dst
