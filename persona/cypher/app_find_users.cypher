// Explorer: user ids containing $q (all when $q is empty), sorted, at most $limit.
MATCH (u:User)
WHERE $q = '' OR u.id CONTAINS $q
RETURN u.id AS id
ORDER BY id
LIMIT $limit
