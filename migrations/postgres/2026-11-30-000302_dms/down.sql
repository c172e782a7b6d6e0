DROP TABLE dm_pairs;
