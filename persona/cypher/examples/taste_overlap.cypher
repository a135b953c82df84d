// Both stores (demo data; on ML-100K use HAS_GENRE|DIRECTED_BY|STARRING): attributes shared by a user's
// training items and their recommendations.
MATCH (u:User {id: $user})-[:RECOMMENDED]->(rec:Item)-[:HAS_GENRE|AUTHOR]->(a)
MATCH (u)-[t:RATED]->(seen:Item)-[:HAS_GENRE|AUTHOR]->(a)
WHERE t.split = 'train'
RETURN a.name AS attribute, count(DISTINCT rec) AS recommended_items, count(DISTINCT seen) AS seen_items
ORDER BY recommended_items DESC, seen_items DESC
LIMIT 15;
