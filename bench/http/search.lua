-- wrk script: GET /items search over the 100k-item demo catalog: terms, prefixes,
-- filters, sorts, facets (every answer has them) and typos that take the fallback.
local queries = {
  "/items?term=headphones", "/items?term=wireles%20hedphones", "/items?term=kettle&category=kitchen",
  "/items?term=sony", "/items?term=noise&sort=rating", "/items?term=keybaord",
  "/items?term=camping%20tent&min_rating=4", "/items?category=books&sort=price_asc",
  "/items?term=jacket&attr.color=black", "/items?term=pro&sort=popular",
}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", queries[(i % #queries) + 1])
end
