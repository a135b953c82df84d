// Explorer: for each user in $users, how many training items reach each attribute id in $attrs.
// @embedded
MATCH (u:User)-[r:RATED]->(i:Item)-[e]->(a)
WHERE u.id IN $users AND r.split = 'train' AND a.id IN $attrs AND label(a) <> 'Item' AND label(a) <> 'User'
RETURN u.id AS user, label(a) AS label, a.id AS attr, count(DISTINCT i.id) AS n
// @neo4j
MATCH (u:User)-[r:RATED]->(i:Item)-[e]->(a)
WHERE u.id IN $users AND r.split = 'train' AND a.id IN $attrs AND NOT a:Item AND NOT a:User
RETURN u.id AS user, labels(a)[0] AS label, a.id AS attr, count(DISTINCT i.id) AS n
