-- A comparison run is made under its maker's row rules (SPEC §10: the police see persons at risk
-- ≥ 3, a site's staff their site's persons): the registry it compared and the counts it keeps
-- cover those persons only, so it is shown only to readers whose own rules are as wide or wider
-- than these. NULL: no rule.
ALTER TABLE exchange_runs ADD COLUMN rows_min_risk BIGINT;
ALTER TABLE exchange_runs ADD COLUMN rows_site BIGINT;
