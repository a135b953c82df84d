// Explorer: label and name of the attribute/entity nodes with ids in $ids.
// @embedded
MATCH (a)
WHERE a.id IN $ids AND label(a) <> 'Item' AND label(a) <> 'User' AND label(a) <> 'Run' AND label(a) <> 'Store'
RETURN label(a) AS label, a.id AS id, a.name AS name
// @neo4j
MATCH (a)
WHERE a.id IN $ids AND NOT a:Item AND NOT a:User AND NOT a:Run AND NOT a:Store
RETURN labels(a)[0] AS label, a.id AS id, a.name AS name
