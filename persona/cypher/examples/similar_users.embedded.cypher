// LadybugDB: the same question as an exact cosine scan (FLOAT[64] = the persona dimension, hdgi.hidden).
MATCH (me:User {id: $user}), (u:User)
WHERE u.id <> me.id AND u.persona IS NOT NULL
RETURN u.id AS user,
       array_cosine_similarity(CAST(u.persona AS FLOAT[64]), CAST(me.persona AS FLOAT[64])) AS cosine
ORDER BY cosine DESC
LIMIT 10;
