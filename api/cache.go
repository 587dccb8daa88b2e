package api

import (
	"container/list"
	"sync"
)

// pageCache keeps encoded risk-list pages of the current publish. A page is
// a pure function of the published list and the query (cursors pin their
// list), so pages stay valid until the next publish; the cache empties
// whenever the current publish changes. Bounded by bytes, least recently
// used out first.
type pageCache struct {
	mu    sync.Mutex
	gen   int64 // publish id the entries belong to
	max   int
	bytes int
	lru   *list.List // front = most recent; values *pageEntry
	items map[string]*list.Element
	hits  int64
	miss  int64
}

type pageEntry struct {
	key  string
	body []byte
}

func newPageCache(maxBytes int) *pageCache {
	return &pageCache{max: maxBytes, lru: list.New(), items: map[string]*list.Element{}}
}

func (c *pageCache) resetLocked(gen int64) {
	if c.gen != gen {
		c.gen, c.bytes = gen, 0
		c.lru.Init()
		clear(c.items)
	}
}

func (c *pageCache) get(gen int64, key string) ([]byte, bool) {
	if c == nil || c.max <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resetLocked(gen)
	if e, ok := c.items[key]; ok {
		c.lru.MoveToFront(e)
		c.hits++
		return e.Value.(*pageEntry).body, true
	}
	c.miss++
	return nil, false
}

func (c *pageCache) put(gen int64, key string, body []byte) {
	if c == nil || c.max <= 0 || len(body) > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resetLocked(gen)
	if _, ok := c.items[key]; ok {
		return
	}
	c.items[key] = c.lru.PushFront(&pageEntry{key, body})
	c.bytes += len(body)
	for c.bytes > c.max {
		e := c.lru.Back()
		pe := e.Value.(*pageEntry)
		c.lru.Remove(e)
		delete(c.items, pe.key)
		c.bytes -= len(pe.body)
	}
}
