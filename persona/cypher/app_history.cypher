// Explorer: a user's interactions in chronological order, with the leave-one-out split.
MATCH (u:User {id: $id})-[r:RATED]->(i:Item)
RETURN r.pos AS pos, i.id AS item, i.title AS title, r.split AS split, r.rating AS rating, r.ts AS ts
ORDER BY pos, item
