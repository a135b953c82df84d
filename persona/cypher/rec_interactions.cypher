// Every interaction with its position and split, for sequence models (the split decides what a model may see).
MATCH (u:User)-[r:RATED]->(i:Item)
RETURN u.id AS user, i.id AS item, r.pos AS pos, r.split AS split, r.ts AS ts
