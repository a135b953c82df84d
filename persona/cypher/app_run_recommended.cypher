// Explorer: how often each item appears in run $run's written-back lists.
MATCH (:User)-[r:RECOMMENDED]->(i:Item)
WHERE r.run = $run
RETURN i.id AS item, count(*) AS n
