// Neo4j: the 10 users whose HDGI persona is closest to user $user (vector index `user_persona_vector`).
MATCH (me:User {id: $user})
CALL db.index.vector.queryNodes('user_persona_vector', 11, me.persona) YIELD node, score
WHERE node <> me
RETURN node.id AS user, round(score, 3) AS cosine, node.persona_attention AS attention
LIMIT 10;
