"""Vocabulary tables for the demo-catalogue generator (data only).

Everything here is plain, immutable data: attribute kinds and their canonical values with
the surface forms shoppers and merchants use for them, invented brand names, description
templates, synonyms and a few real WANDS queries with a hand-written structured intent.
The product classes and their category paths live in :mod:`ingest.vocab_classes`.

Canonical values are lowercase; surface forms are what appears in text. Two surface forms
of one canonical value (``gray`` and ``grey``) mean the same thing for relevance labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = [
    "ATTRIBUTE_KINDS",
    "BRANDS",
    "COLOR_SHADES",
    "COLOR_WORDS",
    "COMMON_FEATURES",
    "COUNT_WORDS",
    "DEPARTMENTS",
    "DESCRIPTION_TEMPLATES",
    "FEATURE_KEYS",
    "FINISH_WORDS",
    "GENERIC_STYLE_WORDS",
    "MATERIALS",
    "MODEL_NAME_ENDINGS",
    "MODEL_NAME_ONSETS",
    "NUMERIC_TOLERANCE",
    "PATTERN_WORDS",
    "SHAPE_WORDS",
    "SIZES",
    "STOPWORDS",
    "STYLE_WORDS",
    "SYNONYMS",
    "WANDS_QUERIES",
    "ClassSpec",
    "Material",
    "SizeSpec",
    "WandsQuery",
]


@dataclass(frozen=True, slots=True)
class ClassSpec:
    """One product class: how its products are named, described, priced and queried."""

    name: str
    path: tuple[str, ...]
    noun: str
    alt_nouns: tuple[str, ...]
    query_nouns: tuple[str, ...]
    price: tuple[float, float]
    attrs: Mapping[str, tuple[str, ...]]
    descriptive: tuple[str, ...]
    rooms: tuple[str, ...] = ("living room",)
    extras: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    modifiers: tuple[str, ...] = ()
    broader: tuple[str, ...] = ()
    weight: float = 3.0


class Material(NamedTuple):
    parent: str | None
    words: tuple[str, ...]
    display: str


class SizeSpec(NamedTuple):
    display: str
    words: tuple[str, ...]


class WandsQuery(NamedTuple):
    wands_id: int
    text: str
    product_class: str
    constraints: tuple[tuple[str, str], ...]


# Attribute kinds in the order they are written in a query ("48 inch white oak desk").
ATTRIBUTE_KINDS: tuple[str, ...] = (
    "size",
    "width",
    "length",
    "drawers",
    "lights",
    "seats",
    "pieces",
    "color",
    "shape",
    "pattern",
    "style",
    "material",
    "finish",
)

FEATURE_KEYS: Mapping[str, str] = {
    "size": "size",
    "width": "overallwidth-sidetoside",
    "length": "overalllength-toptobottom",
    "drawers": "numberofdrawers",
    "lights": "numberoflights",
    "seats": "numberofseats",
    "pieces": "numberofpieces",
    "color": "color",
    "shape": "shape",
    "pattern": "pattern",
    "style": "style",
    "material": "material",
    "finish": "finish",
}

# Numeric kinds: a product matches a query value when within this many inches of it.
NUMERIC_TOLERANCE: Mapping[str, float] = {"width": 1.5, "length": 1.5}

# Count kinds: the word written after the number ("6 drawer", "5 light", "3 seater").
COUNT_WORDS: Mapping[str, tuple[str, ...]] = {
    "drawers": ("drawer", "drawer", "drawers"),
    "lights": ("light", "light", "lights"),
    "seats": ("seater", "seat", "person"),
    "pieces": ("piece", "piece", "pc"),
}

# Colour families: canonical -> surface forms that mean exactly that family.
COLOR_WORDS: Mapping[str, tuple[str, ...]] = {
    "white": ("white",),
    "black": ("black",),
    "gray": ("gray", "grey"),
    "beige": ("beige", "tan"),
    "brown": ("brown",),
    "blue": ("blue",),
    "navy": ("navy", "navy blue"),
    "green": ("green",),
    "teal": ("teal",),
    "red": ("red",),
    "pink": ("pink",),
    "yellow": ("yellow",),
    "orange": ("orange",),
    "purple": ("purple",),
    "gold": ("gold",),
    "silver": ("silver",),
    "clear": ("clear",),
    "multicolor": ("multicolor", "multi color", "multi-color"),
}

# Shades merchants put in names instead of the family word (never used in queries).
COLOR_SHADES: Mapping[str, tuple[str, ...]] = {
    "white": ("ivory", "snow", "chalk", "off-white"),
    "black": ("ebony", "jet", "onyx", "charcoal black"),
    "gray": ("charcoal", "slate", "ash", "dove", "pewter"),
    "beige": ("cream", "taupe", "sand", "oatmeal", "linen white"),
    "brown": ("espresso", "chocolate", "cognac", "mocha", "chestnut"),
    "blue": ("cobalt", "sky", "denim", "sapphire", "powder blue"),
    "navy": ("midnight", "indigo", "ink"),
    "green": ("sage", "olive", "emerald", "forest", "moss"),
    "teal": ("turquoise", "aqua", "peacock", "lagoon"),
    "red": ("crimson", "burgundy", "brick", "cherry", "scarlet"),
    "pink": ("blush", "rose", "coral pink", "dusty rose"),
    "yellow": ("mustard", "lemon", "ochre", "sunflower"),
    "orange": ("rust", "terracotta", "burnt orange", "tangerine"),
    "purple": ("plum", "lavender", "eggplant", "lilac"),
    "gold": ("champagne", "gilded", "antique gold"),
    "silver": ("metallic silver", "platinum", "mercury"),
    "clear": ("transparent", "crystal clear"),
    "multicolor": ("rainbow", "multi", "vibrant multi"),
}

MATERIALS: Mapping[str, Material] = {
    "wood": Material(None, ("wood", "wooden", "solid wood"), "Solid Wood"),
    "oak": Material("wood", ("oak", "solid oak", "white oak"), "Oak"),
    "walnut": Material("wood", ("walnut", "solid walnut"), "Walnut"),
    "pine": Material("wood", ("pine", "solid pine"), "Pine"),
    "acacia": Material("wood", ("acacia", "acacia wood"), "Acacia"),
    "teak": Material("wood", ("teak", "solid teak"), "Teak"),
    "mango wood": Material("wood", ("mango wood", "mango"), "Mango Wood"),
    "manufactured wood": Material(
        None, ("manufactured wood", "engineered wood", "mdf"), "Manufactured Wood"
    ),
    "bamboo": Material(None, ("bamboo",), "Bamboo"),
    "metal": Material(None, ("metal",), "Metal"),
    "iron": Material("metal", ("iron", "wrought iron"), "Iron"),
    "steel": Material("metal", ("steel", "powder coated steel"), "Steel"),
    "stainless steel": Material("metal", ("stainless steel", "stainless"), "Stainless Steel"),
    "aluminum": Material("metal", ("aluminum", "aluminium"), "Aluminum"),
    "brass": Material("metal", ("brass", "solid brass"), "Brass"),
    "zinc": Material("metal", ("zinc alloy", "zinc"), "Zinc Alloy"),
    "copper": Material("metal", ("copper", "hammered copper"), "Copper"),
    "stone": Material(None, ("stone", "natural stone"), "Stone"),
    "marble": Material("stone", ("marble", "faux marble"), "Marble"),
    "granite": Material("stone", ("granite", "granite composite"), "Granite"),
    "glass": Material(None, ("glass", "tempered glass"), "Glass"),
    "crystal": Material(None, ("crystal",), "Crystal"),
    "concrete": Material(None, ("concrete", "cement"), "Concrete"),
    "ceramic": Material(None, ("ceramic", "stoneware"), "Ceramic"),
    "porcelain": Material(None, ("porcelain",), "Porcelain"),
    "fireclay": Material(None, ("fireclay",), "Fireclay"),
    "terracotta": Material(None, ("terracotta", "terra cotta"), "Terracotta"),
    "resin": Material(None, ("resin", "polyresin"), "Resin"),
    "plastic": Material(None, ("plastic", "polypropylene", "hdpe"), "Plastic"),
    "rubber": Material(None, ("rubber",), "Rubber"),
    "rattan": Material(None, ("rattan", "wicker"), "Rattan/Wicker"),
    "seagrass": Material(None, ("seagrass", "water hyacinth"), "Seagrass"),
    "jute": Material(None, ("jute", "sisal"), "Jute"),
    "mesh": Material(None, ("mesh", "breathable mesh"), "Mesh"),
    "upholstered": Material(None, ("upholstered",), "Upholstered"),
    "velvet": Material("upholstered", ("velvet", "crushed velvet"), "Velvet"),
    "linen": Material("upholstered", ("linen", "linen blend"), "Linen"),
    "cotton": Material("upholstered", ("cotton", "100% cotton"), "Cotton"),
    "polyester": Material("upholstered", ("polyester", "microfiber"), "Polyester"),
    "boucle": Material("upholstered", ("boucle", "bouclé"), "Boucle"),
    "leather": Material(
        "upholstered", ("leather", "genuine leather", "top grain leather"), "Leather"
    ),
    "faux leather": Material(
        "upholstered", ("faux leather", "vegan leather", "leatherette"), "Faux Leather"
    ),
    "wool": Material(None, ("wool", "wool blend"), "Wool"),
    "silk": Material(None, ("silk", "satin"), "Silk"),
    "faux fur": Material(None, ("faux fur", "sherpa"), "Faux Fur"),
    "olefin": Material(None, ("olefin", "outdoor fabric"), "Olefin"),
    "canvas": Material(None, ("canvas", "gallery wrapped canvas"), "Canvas"),
    "paper": Material(None, ("paper", "fine art paper"), "Paper"),
    "memory foam": Material(None, ("memory foam", "gel memory foam"), "Memory Foam"),
    "latex": Material(None, ("latex", "natural latex"), "Latex"),
    "down": Material(None, ("down", "down alternative"), "Down Alternative"),
}

STYLE_WORDS: Mapping[str, tuple[str, ...]] = {
    "modern": ("modern", "contemporary"),
    "mid-century modern": ("mid-century modern", "mid century", "midcentury"),
    "farmhouse": ("farmhouse", "country"),
    "industrial": ("industrial",),
    "traditional": ("traditional", "classic"),
    "coastal": ("coastal", "nautical", "beach"),
    "bohemian": ("bohemian", "boho"),
    "glam": ("glam", "glamorous"),
    "scandinavian": ("scandinavian", "scandi", "nordic"),
    "rustic": ("rustic", "lodge"),
    "transitional": ("transitional",),
}

GENERIC_STYLE_WORDS: tuple[str, ...] = ("timeless", "relaxed", "understated", "fresh", "easygoing")

SHAPE_WORDS: Mapping[str, tuple[str, ...]] = {
    "round": ("round", "circular"),
    "oval": ("oval",),
    "rectangular": ("rectangular", "rectangle"),
    "square": ("square",),
    "arched": ("arched", "arch"),
    "l-shaped": ("l-shaped", "l shaped", "l shape", "corner"),
    "hexagon": ("hexagon", "hex"),
}

PATTERN_WORDS: Mapping[str, tuple[str, ...]] = {
    "solid": ("solid",),
    "striped": ("striped", "stripe"),
    "floral": ("floral", "flower"),
    "geometric": ("geometric",),
    "abstract": ("abstract",),
    "plaid": ("plaid", "buffalo check"),
    "oriental": ("oriental", "persian"),
    "ombre": ("ombre",),
    "animal print": ("animal print", "leopard print"),
}

FINISH_WORDS: Mapping[str, tuple[str, ...]] = {
    "chrome": ("chrome", "polished chrome"),
    "brushed nickel": ("brushed nickel", "satin nickel"),
    "matte black": ("matte black", "matt black"),
    "oil rubbed bronze": ("oil rubbed bronze", "oil-rubbed bronze"),
    "brushed brass": ("brushed brass", "satin brass"),
    "champagne bronze": ("champagne bronze",),
    "polished nickel": ("polished nickel",),
    "antique brass": ("antique brass", "aged brass"),
    "stainless steel": ("stainless steel", "stainless"),
}

SIZES: Mapping[str, SizeSpec] = {
    "twin": SizeSpec("Twin", ("twin", "twin size")),
    "twin xl": SizeSpec("Twin XL", ("twin xl", "twinxl")),
    "full": SizeSpec("Full", ("full", "full size", "double")),
    "queen": SizeSpec("Queen", ("queen", "queen size")),
    "king": SizeSpec("King", ("king", "king size")),
    "california king": SizeSpec("California King", ("california king", "cal king")),
    "split king": SizeSpec("Split King", ("split king",)),
    "2x3": SizeSpec("2' x 3'", ("2x3", "2 x 3")),
    "4x6": SizeSpec("4' x 6'", ("4x6", "4 x 6")),
    "5x8": SizeSpec("5' x 8'", ("5x8", "5 x 8", "5'x8'")),
    "8x10": SizeSpec("8' x 10'", ("8x10", "8 x 10", "8'x10'")),
    "9x12": SizeSpec("9' x 12'", ("9x12", "9 x 12")),
    "runner": SizeSpec("Runner 2'6\" x 8'", ("runner",)),
    "18x18": SizeSpec('18" x 18"', ("18x18", "18 x 18")),
    "20x20": SizeSpec('20" x 20"', ("20x20", "20 x 20")),
    "12x20": SizeSpec('12" x 20"', ("12x20", "lumbar 12x20")),
    "3x6": SizeSpec('3" x 6"', ("3x6", "3 x 6")),
    "12x12": SizeSpec('12" x 12"', ("12x12", "12 x 12")),
    "12x24": SizeSpec('12" x 24"', ("12x24", "12 x 24")),
    "24x24": SizeSpec('24" x 24"', ("24x24", "24 x 24")),
    "counter height": SizeSpec("Counter Height", ("counter height",)),
    "bar height": SizeSpec("Bar Height", ("bar height",)),
}

# Top-level departments: brands sell in a few of these.
DEPARTMENTS: tuple[str, ...] = (
    "Furniture",
    "Outdoor",
    "Rugs",
    "Décor & Pillows",
    "Bed & Bath",
    "Lighting",
    "Kitchen & Tabletop",
    "Home Improvement",
    "Storage & Organization",
    "Baby & Kids",
)

# Invented brand names (not real trademarks); the generator assigns their departments.
BRANDS: tuple[str, ...] = (
    "Varnel Home",
    "Quillow",
    "Brannock Living",
    "Elmscott & Vane",
    "Torvane",
    "Halvorn Studio",
    "Mirelle & Co.",
    "Ostrava Loft",
    "Pellandine",
    "Corvanne",
    "Delmoray",
    "Eskerfold",
    "Fennimore Goods",
    "Gildersby",
    "Hartwinde",
    "Islemoor",
    "Jaskell House",
    "Kestravane",
    "Lunford Row",
    "Marrowick",
    "Nettlecombe",
    "Orlaine",
    "Penhallow Works",
    "Quarrington",
    "Rosmere Studio",
    "Saltmarrow",
    "Thistlebeck",
    "Umbervale",
    "Vellacourt",
    "Wrenhallow",
    "Yarrowfield",
    "Zephyrine",
    "Ambervast",
    "Bellwyck",
    "Calloway Nook",
    "Dunmarra",
    "Everlinde Home",
    "Foxhaddon",
    "Greywaters Co.",
    "Hollin & Pryce",
    "Ivystrand",
    "Juniperra",
    "Kilbarron",
    "Larkspire",
    "Mossgrave",
    "Norwenna",
    "Oakmyre",
    "Pillowhaven",
    "Quenby Lane",
    "Ravensloe",
    "Sablewick",
    "Tamsworth Grey",
    "Ulverholm",
    "Veradune",
    "Willowmere Living",
    "Xandovere Home",
    "Yewbridge",
    "Zellandine",
    "Arkwell & Lowe",
    "Birchavon",
    "Coppermoss",
    "Driftmoor",
    "Emberlayne",
    "Fernhallow",
    "Glenvarra",
    "Heathmoor Hollis",
    "Inglenook Co.",
    "Jessamine Row",
    "Kindlewood",
    "Lindorra",
    "Marlowby",
    "Nimbuvale",
    "Ottavane",
    "Plumbrook",
    "Quintavelle Home",
    "Rookhaven",
    "Selwyn & Tarr",
    "Tavistrand",
    "Underleigh",
    "Vintrella",
    "Westerhay",
    "Yorvane",
    "Zoravelle",
    "Alderwisp",
    "Brackenbay",
    "Clovermarsh",
    "Daleswick",
    "Elderberrow",
    "Fairhollow",
    "Gossamere",
    "Hazelmoor Living",
    "Indigo Harrow",
    "Jettisford",
    "Kettleby",
    "Loamshire",
    "Meadowvane",
    "Northquill",
    "Orchardine",
    "Pebblemarsh",
    "Quarrystone Co.",
    "Rivenhall",
    "Saffronby",
    "Tidewyck",
    "Upperbrook",
    "Vesperine",
    "Whitlowe",
    "Yellowfern",
    "Zanzibeth",
    "Ashcombe Forge",
    "Bramblecote",
    "Cinderholt",
    "Duskwater",
    "Eastvane Studio",
    "Fallowmere",
    "Grimsvale",
    "Honeywick",
    "Ironfennel",
    "Jadehollow",
    "Knollbrook",
    "Quorrelby",
)

# Display-only features any product may carry (WANDS-like keys).
COMMON_FEATURES: Mapping[str, tuple[str, ...]] = {
    "assemblyrequired": ("Yes", "No"),
    "countryoforigin": ("China", "Vietnam", "India", "Malaysia", "United States", "Indonesia"),
    "warrantylength": ("1 Year", "2 Years", "5 Years", "Lifetime"),
    "commercialwarranty": ("Yes", "No"),
    "productcare": ("Spot clean", "Wipe with a damp cloth", "Machine washable"),
}

# Sentence templates for descriptions. Slots: noun, room, style, collection, brand,
# material, color, decoy, value.
DESCRIPTION_TEMPLATES: Mapping[str, tuple[str, ...]] = {
    "opener": (
        "Bring {style} charm to your {room} with this {noun}.",
        "This {noun} is an easy way to refresh your {room}.",
        "Designed for everyday living, this {style} {noun} fits right into the {room}.",
        "Give your {room} a finishing touch with the {collection} {noun}.",
        "The {collection} {noun} from {brand} blends form and function.",
        "Looking for a {noun} that works as hard as you do? Meet the {collection}.",
        "A {style} {noun} that feels at home in any {room}.",
        "Part of the {collection} collection, this {noun} keeps things simple.",
    ),
    "material": (
        "It is crafted from {material} for lasting durability.",
        "Made from {material}, it is built to last.",
        "Constructed of {material}, it holds up to daily use.",
        "The {material} build feels solid and looks refined.",
    ),
    "color": (
        "Its {color} finish works with a wide range of palettes.",
        "Finished in {color}, it adds a subtle pop of colour.",
        "The {color} tone pairs easily with neutral decor.",
        "Shown here in {color}.",
    ),
    "decoy": (
        "Pairs well with {decoy} accents.",
        "Style it with {decoy} throw pillows for contrast.",
        "Looks great against {decoy} walls.",
        "Try it next to a {decoy} rug for a layered look.",
    ),
    "style": (
        "Its {style} lines suit a variety of spaces.",
        "A {style} silhouette keeps the look current.",
    ),
    "width": ("It measures {value} inches wide.", 'At {value}" wide, it suits small spaces too.'),
    "length": ("Each panel is {value} inches long.", 'Measures {value}" from top to bottom.'),
    "drawers": (
        "With {value} drawers, there is room for everything.",
        "It offers {value} roomy drawers.",
    ),
    "lights": (
        "It holds {value} bulbs for bright, even light.",
        "A {value}-light design spreads a warm glow.",
    ),
    "seats": ("It seats {value} comfortably.", "Room for {value} people to sit."),
    "pieces": (
        "The set includes {value} pieces.",
        "This {value}-piece set arrives ready to style.",
    ),
    "size": ("This listing is for the {value} size.", "Shown in size {value}."),
    "care": (
        "Assembly is quick with the included hardware.",
        "Spot clean with a damp cloth.",
        "Backed by a one-year limited warranty.",
        "Ships in one box.",
        "Some assembly required.",
        "Wipe clean with a soft, dry cloth.",
    ),
}

# Pieces of invented model (collection) names: onset + ending, e.g. "Brenwick".
MODEL_NAME_ONSETS: tuple[str, ...] = (
    "Al",
    "Bren",
    "Cal",
    "Dor",
    "El",
    "Fen",
    "Gar",
    "Hal",
    "Is",
    "Jor",
    "Kel",
    "Lor",
    "Mar",
    "Nor",
    "Or",
    "Pem",
    "Quin",
    "Ros",
    "Sel",
    "Tam",
    "Ul",
    "Ver",
    "Wes",
    "Yar",
    "Zan",
    "Ash",
    "Bel",
    "Cor",
    "Dar",
    "Em",
    "Fal",
    "Gil",
    "Hen",
    "Ing",
    "Kin",
    "Lan",
    "Mel",
    "Ned",
    "Per",
    "Rad",
    "Sten",
    "Tor",
    "Vin",
    "Wil",
)
MODEL_NAME_ENDINGS: tuple[str, ...] = (
    "ton",
    "ford",
    "ley",
    "wick",
    "more",
    "dale",
    "ine",
    "ia",
    "son",
    "by",
    "well",
    "worth",
    "ville",
    "ard",
    "ette",
    "an",
    "ina",
    "os",
    "ric",
    "da",
    "mont",
    "bury",
    "sey",
    "ika",
)

# Words ignored when matching query words against product names.
STOPWORDS: frozenset[str] = frozenset(
    (
        "a",
        "an",
        "and",
        "by",
        "for",
        "from",
        "in",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
        "my",
        "i",
        "is",
        "it",
        "at",
        "that",
        "this",
        "set",
    )
)

# Synonym groups used in names, descriptions and queries (canonical term first).
SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "sofa": ("couch", "settee"),
    "loveseat": ("love seat",),
    "armchair": ("arm chair", "accent chair"),
    "rug": ("carpet",),
    "nightstand": ("bedside table", "night stand", "night table"),
    "dresser": ("chest of drawers", "bureau"),
    "gray": ("grey",),
    "tv stand": ("entertainment center", "media console", "tv console"),
    "bookcase": ("bookshelf",),
    "faucet": ("tap",),
    "end table": ("side table",),
    "console table": ("sofa table", "entry table", "entryway table"),
    "sideboard": ("buffet", "credenza"),
    "bar stool": ("barstool",),
    "throw pillow": ("accent pillow", "decorative pillow"),
    "curtains": ("drapes",),
    "comforter set": ("bedding set",),
    "coffee table": ("cocktail table",),
    "planter": ("plant pot", "flower pot"),
    "artificial": ("faux", "fake"),
    "daybed": ("day bed",),
    "recliner": ("reclining chair",),
    "aluminum": ("aluminium",),
    "rattan": ("wicker",),
    "mid-century modern": ("mid century", "midcentury"),
    "bohemian": ("boho",),
}

# Real WANDS shopper queries (query.csv, MIT licence) whose intent fits the structured
# model exactly; text and class are as in WANDS, constraints are written by hand.
WANDS_QUERIES: tuple[WandsQuery, ...] = (
    WandsQuery(26, "leather chairs", "Accent Chairs", (("material", "leather"),)),
    WandsQuery(43, "solid teak end table", "End Tables", (("material", "teak"),)),
    WandsQuery(121, "upholstered bed", "Beds", (("material", "upholstered"),)),
    WandsQuery(122, "king size bed", "Beds", (("size", "king"),)),
    WandsQuery(123, "entrance table", "Sofa & Console Tables", ()),
    WandsQuery(126, "leather dining chairs", "Dining Chairs", (("material", "leather"),)),
    WandsQuery(131, "kids chair", "Kids Chairs", ()),
    WandsQuery(151, "leather chair", "Accent Chairs", (("material", "leather"),)),
    WandsQuery(157, "velvet chaise", "Indoor Chaise Lounges", (("material", "velvet"),)),
    WandsQuery(241, "decorative wall clocks", "Wall Clocks", ()),
    WandsQuery(242, "accent leather chair", "Accent Chairs", (("material", "leather"),)),
    WandsQuery(250, "multi color rug", "Area Rugs", (("color", "multicolor"),)),
    WandsQuery(252, "accent chairs living room", "Accent Chairs", ()),
    WandsQuery(
        253, "antique brass faucet", "Bathroom Sink Faucets", (("finish", "antique brass"),)
    ),
    WandsQuery(292, "decorative white pillow", "Accent Pillows", (("color", "white"),)),
    WandsQuery(367, "wooden chair outdoor", "Patio Lounge Chairs", (("material", "wood"),)),
    WandsQuery(
        389,
        "brush nickel faucet bathroom",
        "Bathroom Sink Faucets",
        (("finish", "brushed nickel"),),
    ),
    WandsQuery(395, "pantry grey", "Pantry Cabinets", (("color", "gray"),)),
    WandsQuery(409, "teal chair", "Accent Chairs", (("color", "teal"),)),
    WandsQuery(417, "twin bed frame", "Bed Frames", (("size", "twin"),)),
    WandsQuery(418, "writing desk", "Desks", ()),
    WandsQuery(421, "dining room tables", "Dining Tables", ()),
    WandsQuery(423, "wall shelves", "Wall Mounted Shelves", ()),
    WandsQuery(429, "gray dresser", "Dressers & Chests", (("color", "gray"),)),
    WandsQuery(430, "30 inch bathroom vanity", "Vanities", (("width", "30"),)),
    WandsQuery(435, "shoe closet", "Shoe Storage", ()),
    WandsQuery(440, "wood bar stools", "Bar Stools", (("material", "wood"),)),
    WandsQuery(446, "card table", "Folding Tables", ()),
)
