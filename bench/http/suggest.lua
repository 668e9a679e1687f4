-- wrk script: GET /items/suggest with prefixes from one letter to a whole word.
local prefixes = { "h", "he", "wire", "son", "kit", "cam", "b", "noise", "lego", "espresso" }
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/items/suggest?size=8&prefix=" .. prefixes[(i % #prefixes) + 1])
end
