// Explorer: how many catalogue items reach each attribute id in $attrs (its document frequency).
// @embedded
MATCH (i:Item)-[e]->(a)
WHERE a.id IN $attrs AND label(a) <> 'Item' AND label(a) <> 'User'
RETURN label(a) AS label, a.id AS attr, count(DISTINCT i.id) AS n
// @neo4j
MATCH (i:Item)-[e]->(a)
WHERE a.id IN $attrs AND NOT a:Item AND NOT a:User
RETURN labels(a)[0] AS label, a.id AS attr, count(DISTINCT i.id) AS n
