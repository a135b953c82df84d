// Explorer: the catalogue size.
MATCH (i:Item)
RETURN count(i) AS n
