// Genres and categories of every item: the attributes the experiment's session-agreement diagnostic compares.
// @embedded
MATCH (i:Item)-[]->(a)
WHERE label(a) = 'Genre' OR label(a) = 'Category'
RETURN i.id AS item, a.id AS attr
// @neo4j
MATCH (i:Item)-->(a)
WHERE a:Genre OR a:Category
RETURN i.id AS item, a.id AS attr
