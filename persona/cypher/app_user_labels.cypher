// Explorer: for every user, training interactions per attribute of label $label (e.g. each user's genres).
// @embedded
MATCH (u:User)-[r:RATED]->(i:Item)
WHERE r.split = 'train'
WITH u, i
MATCH (i)-[e]->(a)
WHERE label(a) = $label
RETURN u.id AS user, a.id AS attr, a.name AS name, count(*) AS n
// @neo4j
MATCH (u:User)-[r:RATED]->(i:Item)-[e]->(a)
WHERE r.split = 'train' AND $label IN labels(a)
RETURN u.id AS user, a.id AS attr, a.name AS name, count(*) AS n
