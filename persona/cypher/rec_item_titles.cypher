// Titles of the given items.
MATCH (i:Item)
WHERE i.id IN $ids
RETURN i.id AS id, i.title AS title
