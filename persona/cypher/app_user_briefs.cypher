// Explorer: summary and number of training interactions of the users with ids in $ids.
MATCH (u:User)-[r:RATED]->(:Item)
WHERE u.id IN $ids AND r.split = 'train'
RETURN u.id AS user, u.llm_summary AS summary, u.llm_summary_source AS summary_source, count(r) AS n_train
