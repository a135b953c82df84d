// Explorer: for each user in $users, how many training items reach each attribute id in $attrs.
// @embedded
// Two MATCH clauses, not one two-hop pattern: LadybugDB 0.22 loses the `r.split` filter of the first hop
// once several relationship tables leave Item (tests/app/test_data.py catches it).
MATCH (u:User)-[r:RATED]->(i:Item)
WHERE u.id IN $users AND r.split = 'train'
WITH u, i
MATCH (i)-[e]->(a)
WHERE a.id IN $attrs AND label(a) <> 'Item' AND label(a) <> 'User'
RETURN u.id AS user, label(a) AS label, a.id AS attr, count(DISTINCT i.id) AS n
// @neo4j
MATCH (u:User)-[r:RATED]->(i:Item)-[e]->(a)
WHERE u.id IN $users AND r.split = 'train' AND a.id IN $attrs AND NOT a:Item AND NOT a:User
RETURN u.id AS user, labels(a)[0] AS label, a.id AS attr, count(DISTINCT i.id) AS n
