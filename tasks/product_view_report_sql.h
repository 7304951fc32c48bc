/* product_view_report_sql: the six report queries of product_view_report, over the star schema
 * of migrations/0008_product_view.sql. Static SQL, one parameter each: $1 = the UTC day
 * (fact_sales.full_date). A "view" is one fact_sales row (one event). Ties are broken by key,
 * so a report is the same on every run over the same data. Included by
 * tasks/product_view_report.c only. */
#ifndef GUST_PRODUCT_VIEW_REPORT_SQL_H
#define GUST_PRODUCT_VIEW_REPORT_SQL_H

/* 1: the 10 most viewed products; facts without a product are left out. */
static const char SQL_TOP_PRODUCTS[] =
    "SELECT f.product_key, p.name, p.current_url, count(*) AS views"
    " FROM fact_sales f JOIN dim_product p USING (product_key)"
    " WHERE f.full_date = $1::date"
    " GROUP BY f.product_key, p.name, p.current_url"
    " ORDER BY views DESC, f.product_key LIMIT 10";

/* The day's views per known country (facts whose location or country is unknown are left
 * out), used by reports 2 and 4 so that both rank the countries alike. */
#define SQL_COUNTRY_VIEWS                                                                          \
    "country_views AS ("                                                                           \
    "  SELECT l.country_code, min(l.country_name) AS country_name, count(*) AS views"              \
    "  FROM fact_sales f JOIN dim_location l USING (ip_key)"                                       \
    "  WHERE f.full_date = $1::date AND l.country_code IS NOT NULL"                                \
    "  GROUP BY l.country_code)"

/* 2: the 10 countries with the most views. */
static const char SQL_TOP_COUNTRIES[] =
    "WITH " SQL_COUNTRY_VIEWS " SELECT country_code, country_name, views"
    " FROM country_views"
    " ORDER BY views DESC, country_code LIMIT 10";

/* 3: the 5 referrer hosts with the most views; no referrer (NULL or empty) is left out. */
static const char SQL_TOP_REFERRERS[] =
    "SELECT referrer_url, count(*) AS views FROM fact_sales"
    " WHERE full_date = $1::date AND referrer_url IS NOT NULL AND referrer_url <> ''"
    " GROUP BY referrer_url ORDER BY views DESC, referrer_url LIMIT 5";

/* 4: the stores of the 10 countries of report 2, ranked by views within their country with
 * rank() (ties share a rank); the stores ranked 1 to 5 (ties can make it more than 5). Facts
 * without a store_id are left out. Countries in report 2's order, stores by rank. */
static const char SQL_STORES_BY_COUNTRY[] =
    "WITH " SQL_COUNTRY_VIEWS ", top_countries AS ("
    "  SELECT country_code, country_name, views FROM country_views"
    "  ORDER BY views DESC, country_code LIMIT 10"
    "), stores AS ("
    "  SELECT l.country_code, f.store_id, count(*) AS views"
    "  FROM fact_sales f JOIN dim_location l USING (ip_key)"
    "  WHERE f.full_date = $1::date AND f.store_id IS NOT NULL"
    "    AND l.country_code IN (SELECT country_code FROM top_countries)"
    "  GROUP BY l.country_code, f.store_id"
    "), ranked AS ("
    "  SELECT s.*, rank() OVER (PARTITION BY s.country_code ORDER BY s.views DESC) AS rank"
    "  FROM stores s)"
    " SELECT c.country_code, c.country_name, r.store_id, r.views, r.rank"
    " FROM ranked r JOIN top_countries c USING (country_code)"
    " WHERE r.rank <= 5"
    " ORDER BY c.views DESC, c.country_code, r.rank, r.store_id";

/* 5: views per hour (0-23, every hour, zeros included) of the day's 5 most viewed products
 * (the first 5 of report 1), hour by hour, the products in that order. */
static const char SQL_HOURLY_PRODUCTS[] =
    "WITH top AS ("
    "  SELECT f.product_key, count(*) AS views,"
    "         row_number() OVER (ORDER BY count(*) DESC, f.product_key) AS pos"
    "  FROM fact_sales f JOIN dim_product p USING (product_key)"
    "  WHERE f.full_date = $1::date"
    "  GROUP BY f.product_key ORDER BY views DESC, f.product_key LIMIT 5"
    "), hourly AS ("
    "  SELECT product_key, extract(hour FROM full_time)::int AS hour, count(*) AS views"
    "  FROM fact_sales"
    "  WHERE full_date = $1::date AND product_key IN (SELECT product_key FROM top)"
    "  GROUP BY 1, 2)"
    " SELECT h.hour, t.product_key, p.name, coalesce(x.views, 0) AS views"
    " FROM top t JOIN dim_product p USING (product_key)"
    " CROSS JOIN generate_series(0, 23) AS h(hour)"
    " LEFT JOIN hourly x ON x.product_key = t.product_key AND x.hour = h.hour"
    " ORDER BY h.hour, t.pos";

/* The family of a dim_user_agent browser or os label: the label without its trailing major
 * version (" 83", " 10", " XP", ...): "Chrome Mobile 83" -> "Chrome Mobile". Unknown (no
 * user agent, NULL) is "Other", like ua-parser's own "no match". */
#define SQL_FAMILY(col)                                                                            \
    "coalesce(regexp_replace(" col ", ' ([0-9][^ ]*|XP|Vista|ME|CE|RT)$', ''), 'Other')"

/* 6: views per hour (0-23, every hour, zeros included) of each browser family and each OS
 * family (kind 'browser' / 'os'): the day's 6 most viewed families of each kind, the rest
 * (and "Other") folded into "Other", which comes last. */
static const char SQL_HOURLY_BROWSER_OS[] =
    "WITH facts AS ("
    "  SELECT extract(hour FROM f.full_time)::int AS hour,"
    "         " SQL_FAMILY("u.browser") " AS browser, " SQL_FAMILY(
        "u.os") " AS os"
                "  FROM fact_sales f LEFT JOIN dim_user_agent u USING (user_agent_key)"
                "  WHERE f.full_date = $1::date AND f.full_time IS NOT NULL"
                "), tall AS ("
                "  SELECT 'browser' AS kind, hour, browser AS family FROM facts"
                "  UNION ALL SELECT 'os', hour, os FROM facts"
                "), ranked AS ("
                "  SELECT kind, family, row_number() OVER (PARTITION BY kind"
                "         ORDER BY family = 'Other', count(*) DESC, family) AS pos"
                "  FROM tall GROUP BY kind, family"
                "), folded AS ("
                "  SELECT t.kind, t.hour, CASE WHEN r.pos <= 6 AND r.family <> 'Other' THEN "
                "r.family"
                "         ELSE 'Other' END AS family, CASE WHEN r.pos <= 6 THEN r.pos ELSE 7 END "
                "AS pos"
                "  FROM tall t JOIN ranked r USING (kind, family)"
                "), series AS ("
                "  SELECT kind, family, min(pos) AS pos FROM folded GROUP BY kind, family"
                "), counts AS ("
                "  SELECT kind, family, hour, count(*) AS views FROM folded GROUP BY kind, family, "
                "hour)"
                " SELECT s.kind, h.hour, s.family, coalesce(c.views, 0) AS views"
                " FROM series s CROSS JOIN generate_series(0, 23) AS h(hour)"
                " LEFT JOIN counts c ON c.kind = s.kind AND c.family = s.family AND c.hour = h.hour"
                " ORDER BY s.kind, h.hour, s.pos";

#endif
