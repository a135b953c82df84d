// Both stores: which kinds of relation shape a user's persona (semantic attention per meta-path, JSON),
// with the size of the training history it was learned from.
MATCH (u:User {id: $user})-[t:RATED]->(i:Item)
WHERE t.split = 'train'
RETURN u.persona_attention AS attention, u.persona_run AS run, count(i) AS train_items;
