SELECT 1
WHERE x = {{ nosuchname }}
