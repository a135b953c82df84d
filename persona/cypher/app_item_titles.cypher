// Explorer: titles of the items with ids in $ids.
MATCH (i:Item)
WHERE i.id IN $ids
RETURN i.id AS item, i.title AS title
