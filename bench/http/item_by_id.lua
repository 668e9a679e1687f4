-- wrk script: GET /items/{id} over a 100k-item demo catalog (ids item-1..item-100000).
math.randomseed(42)
request = function()
  return wrk.format("GET", "/items/item-" .. math.random(1, 100000))
end
