-- Visibility of the workspace's primary brand per model version and country over a window of UTC
-- days: the figures of GET /api/workspaces/{id}/visibility (group_by=version), from the export's
-- files. Successful analysed answers, branded prompts left out; share of voice over every brand
-- of the cell. Parameters: org id, workspace id, first day, last day (YYYY-MM-DD).
WITH answers AS (
    SELECT result_id, provider, model_id, grounded, searched, provider_version_key, country
    FROM {answers}
    WHERE org_id = :org_id AND workspace_id = :workspace_id
        AND day BETWEEN :first_day AND :last_day
        AND status = 'succeeded' AND NOT branded_prompt
),
mentions AS (
    SELECT a.provider, a.model_id, a.grounded, a.searched, a.provider_version_key, a.country,
        m."primary", m.mentioned, m.rank, m.cited
    FROM {brand_mentions} AS m
    JOIN answers AS a ON a.result_id = m.result_id
    WHERE m.org_id = :org_id AND m.workspace_id = :workspace_id
        AND m.day BETWEEN :first_day AND :last_day
),
cells AS (
    SELECT provider, model_id, grounded, provider_version_key, country,
        sum(CASE WHEN "primary" THEN 1 ELSE 0 END) AS n,
        sum(CASE WHEN "primary" AND mentioned THEN 1 ELSE 0 END) AS mentioned,
        sum(CASE WHEN "primary" AND mentioned AND rank <= 3 THEN 1 ELSE 0 END) AS top3,
        sum(CASE WHEN "primary" AND mentioned THEN rank ELSE 0 END) AS rank_sum,
        sum(CASE WHEN "primary" AND searched THEN 1 ELSE 0 END) AS searched,
        sum(CASE WHEN "primary" AND cited THEN 1 ELSE 0 END) AS cited,
        sum(CASE WHEN mentioned THEN 1 ELSE 0 END) AS all_brands_mentioned
    FROM mentions
    GROUP BY provider, model_id, grounded, provider_version_key, country
)
SELECT provider, model_id, grounded, provider_version_key, country, n, mentioned,
    CAST(mentioned AS DOUBLE) / n AS rate,
    CAST(rank_sum AS DOUBLE) / NULLIF(mentioned, 0) AS mean_rank,
    CAST(top3 AS DOUBLE) / n AS top3_rate,
    CAST(mentioned AS DOUBLE) / NULLIF(all_brands_mentioned, 0) AS share_of_voice,
    CASE WHEN grounded THEN CAST(searched AS DOUBLE) / n END AS searched_rate,
    CASE WHEN grounded THEN CAST(cited AS DOUBLE) / n END AS cited_rate
FROM cells
WHERE n > 0
ORDER BY provider, model_id, grounded, provider_version_key, country
