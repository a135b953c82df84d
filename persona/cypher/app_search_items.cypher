// Explorer: items whose title contains $q, case-insensitive (all titled items when $q is empty).
MATCH (i:Item)
WHERE i.title IS NOT NULL AND ($q = '' OR toLower(i.title) CONTAINS toLower($q))
RETURN i.id AS item, i.title AS title
ORDER BY title, item
LIMIT $limit
