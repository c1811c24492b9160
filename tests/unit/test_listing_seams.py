"""The repair of one seam between two pages that did not meet, on a list the test lays out exactly.

Whole listings (`test_client_listing.py`) absorb a repair that reads too much or gives up too soon in
their second scan; here each repair is held to the groups it returns and the requests it sends.
"""

from __future__ import annotations

from collections.abc import Sequence

from exporter.tione.listing import LIMIT, MAX_BRIDGE_PAGES, STRIDE, _bridge, _Page
from exporter.tione.records import ServiceGroup


def name(index: int) -> str:
    return f"ms-{index:05d}"


def page(offset: int, indexes: Sequence[int], total: int | None = None) -> _Page:
    groups = [ServiceGroup(service_group_id=name(index)) for index in indexes]
    return _Page(offset, len(indexes) if total is None else total, groups, [])


class Listing:
    """The list as it is now, paged like the API; the offsets asked, in order."""

    def __init__(self, indexes: Sequence[int]) -> None:
        self.indexes = list(indexes)
        self.offsets: list[int] = []

    async def fetch(self, offset: int) -> _Page:
        self.offsets.append(offset)
        return page(offset, self.indexes[offset : offset + LIMIT], total=len(self.indexes))


def names(groups: Sequence[ServiceGroup] | None) -> list[str] | None:
    return None if groups is None else [str(group.service_group_id) for group in groups]


async def test_a_group_that_slid_back_over_the_seam_is_found_in_one_window_centred_on_it() -> None:
    """Two groups in front were deleted after the first page was read: the group after its last one slid
    into it, and the second page starts one further on."""
    now = Listing([index for index in range(300) if index not in (10, 11)])
    before, after = page(0, range(0, 100)), await now.fetch(STRIDE)
    assert names(after.groups)[:1] == [name(101)]
    now.offsets.clear()
    found, requests = await _bridge(now.fetch, before, after)
    assert (names(found), requests) == ([name(100)], 1)
    assert now.offsets == [STRIDE - LIMIT // 2]


async def test_a_window_showing_nothing_of_the_earlier_page_moves_back_half_a_page() -> None:
    """Sixty groups in front went: the window at the seam holds nothing of the first page, the one half a
    page before it does."""
    now = Listing([index for index in range(400) if not 10 <= index < 70])
    before, after = page(0, range(0, 100)), await now.fetch(STRIDE)
    now.offsets.clear()
    found, requests = await _bridge(now.fetch, before, after)
    assert (names(found), requests) == ([name(index) for index in range(100, 159)], 2)
    assert now.offsets == [STRIDE - LIMIT // 2, 0]


async def test_a_window_at_the_start_of_the_list_showing_nothing_of_the_earlier_page_gives_up() -> None:
    """The first page's groups are all gone: there is no earlier window to move to."""
    now = Listing(range(100, 400))
    before, after = page(0, range(0, 100)), page(40, range(140, 240))
    found, requests = await _bridge(now.fetch, before, after)
    assert (found, requests) == (None, 1)
    assert now.offsets == [0]


async def test_moving_back_stops_at_the_start_of_the_list() -> None:
    """From a window at 49 half a page back is 0, never a negative offset; nothing there either: give up."""
    now = Listing(range(100, 400))
    before, after = page(0, range(0, 100)), page(STRIDE, range(199, 299))
    found, requests = await _bridge(now.fetch, before, after)
    assert (found, requests) == (None, 2)
    assert now.offsets == [STRIDE - LIMIT // 2, 0]


async def test_a_gap_wider_than_a_page_is_walked_window_by_window() -> None:
    """The later page starts 150 groups past the earlier one's end: the repair follows the list, each window
    overlapping the one before by a group, until the later page's first group shows up."""
    now = Listing(range(400))
    before, after = page(0, range(0, 100)), page(STRIDE, range(250, 350))
    found, requests = await _bridge(now.fetch, before, after)
    assert (names(found), requests) == ([name(index) for index in range(100, 250)], 3)
    assert now.offsets == [49, 49 + STRIDE, 49 + 2 * STRIDE]


async def test_a_window_that_lost_its_link_to_the_last_one_gives_up() -> None:
    """While walking a wide gap, the groups the last window ended on vanish: the walk cannot be trusted."""
    now = Listing(range(400))
    original = now.fetch

    async def fetch(offset: int) -> _Page:
        if now.offsets:  # after the first window: its groups from 120 on are deleted
            now.indexes = [index for index in now.indexes if not 120 <= index < 250]
        return await original(offset)

    found, requests = await _bridge(fetch, page(0, range(0, 100)), page(STRIDE, range(250, 350)))
    assert (found, requests) == (None, 2)


async def test_a_gap_that_does_not_close_within_a_few_windows_gives_up() -> None:
    now = Listing(range(2000))
    before, after = page(0, range(0, 100)), page(STRIDE, range(1000, 1100))
    found, requests = await _bridge(now.fetch, before, after)
    assert (found, requests) == (None, MAX_BRIDGE_PAGES)
    assert now.offsets == [49 + step * STRIDE for step in range(MAX_BRIDGE_PAGES)]


async def test_the_end_of_a_list_that_grew_is_read_to_the_last_group() -> None:
    """The last page was full and more groups were announced: the windows follow the list to its end."""
    now = Listing(range(349))
    before = page(STRIDE, range(99, 199), total=349)
    found, requests = await _bridge(now.fetch, before, None)
    assert (names(found), requests) == ([name(index) for index in range(199, 349)], 3)
    assert now.offsets == [
        2 * STRIDE - LIMIT // 2,
        2 * STRIDE - LIMIT // 2 + STRIDE,
        2 * STRIDE - LIMIT // 2 + 2 * STRIDE,
    ]


async def test_a_full_window_at_the_end_is_followed_by_one_more() -> None:
    """A window of exactly a page may have more behind it: only a shorter one ends the list."""
    now = Listing(range(148 + LIMIT))
    before = page(STRIDE, range(99, 199), total=200)
    found, requests = await _bridge(now.fetch, before, None)
    assert (names(found), requests) == ([name(index) for index in range(199, 148 + LIMIT)], 2)
    assert now.offsets == [148, 148 + STRIDE]
