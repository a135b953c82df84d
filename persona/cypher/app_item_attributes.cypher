// Explorer: attribute nodes reached from a user's training items (one row per item→attribute edge).
// The dialects name a node's label and a relationship's type differently (label() vs labels()/type()).
// @embedded
// Two MATCH clauses: see app_attribute_overlap.cypher (a LadybugDB 0.22 planner bug drops the split filter).
MATCH (u:User {id: $id})-[r:RATED]->(i:Item)
WHERE r.split = 'train'
WITH i
MATCH (i)-[e]->(a)
WHERE label(a) <> 'Item' AND label(a) <> 'User'
RETURN i.id AS item, label(e) AS rel, label(a) AS label, a.id AS attr, a.name AS name
// @neo4j
MATCH (u:User {id: $id})-[r:RATED]->(i:Item)-[e]->(a)
WHERE r.split = 'train' AND NOT a:Item AND NOT a:User
RETURN i.id AS item, type(e) AS rel, labels(a)[0] AS label, a.id AS attr, a.name AS name
