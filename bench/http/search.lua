-- wrk script: GET /items search with rotating terms, prefixes and filters.
-- "sm" is the broadest: a two-letter prefix matching ~8k of the 100k demo items.
local queries = {
  "/items?term=lamp", "/items?term=wireless%20head", "/items?term=kett&category=kitchen",
  "/items?term=acme", "/items?term=smart&min_price=1000&max_price=20000",
  "/items?term=vintage%20cam", "/items?term=blue%20sneakers&brand=Wonka",
  "/items?category=books", "/items?term=ergonomic%20keyboard", "/items?term=sm",
}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", queries[(i % #queries) + 1])
end
