// Explorer: training interactions per item (its popularity as the models saw it).
MATCH (:User)-[r:RATED]->(i:Item)
WHERE r.split = 'train'
RETURN i.id AS item, count(*) AS n
