// HDGI personas of users (written by `persona train personas`).
MATCH (u:User)
WHERE u.persona IS NOT NULL
RETURN u.id AS id, u.persona AS vec, u.persona_run AS run
