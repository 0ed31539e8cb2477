"""Static word material of the simulator: categories, brands, templates, ads, PII pieces.

Pure data (tuples and dicts of strings); the generated vocabularies are built from it at run time
by :mod:`pipelines.simulate.text`. Brand names only flavour the synthetic text.
"""

from __future__ import annotations

# name, typical order value (USD), population interest, return-rate multiplier, affluence tilt
CATEGORIES: tuple[tuple[str, float, float, float, float], ...] = (
    ("electronics", 160.0, 1.3, 1.0, 0.6),
    ("fashion", 70.0, 1.5, 2.0, 0.3),
    ("beauty", 38.0, 1.1, 0.7, 0.2),
    ("home", 75.0, 1.0, 0.9, 0.3),
    ("groceries", 32.0, 1.4, 0.3, -0.6),
    ("sports", 60.0, 0.8, 1.0, 0.1),
    ("books", 22.0, 0.7, 0.4, 0.0),
    ("toys", 35.0, 0.7, 0.8, -0.2),
    ("jewelry", 240.0, 0.4, 1.2, 1.2),
    ("health", 30.0, 0.8, 0.5, -0.2),
)

PRODUCTS_EN: dict[str, tuple[str, ...]] = {
    "electronics": ("headphones", "laptop", "smartphone", "smart watch", "tablet", "bluetooth speaker"),
    "fashion": ("dress", "sneakers", "handbag", "winter coat", "jeans", "leather jacket"),
    "beauty": ("face cream", "lipstick", "perfume", "serum", "shampoo", "eye palette"),
    "home": ("coffee machine", "vacuum cleaner", "bed sheets", "cookware set", "desk lamp", "sofa cushion"),
    "groceries": ("olive oil", "coffee beans", "green tea", "snacks", "rice", "chocolate"),
    "sports": ("yoga mat", "running shoes", "tennis racket", "dumbbells", "cycling jersey", "tent"),
    "books": ("novel", "cookbook", "notebook", "comic book", "textbook", "kindle book"),
    "toys": ("lego set", "board game", "plush toy", "puzzle", "rc car", "doll house"),
    "jewelry": ("necklace", "gold ring", "watch", "earrings", "bracelet", "diamond pendant"),
    "health": ("vitamins", "protein powder", "massage gun", "fish oil", "blood pressure monitor",
               "face masks"),
}

PRODUCTS_ZH: dict[str, tuple[str, ...]] = {
    "electronics": ("耳机", "手机", "笔记本电脑", "平板"),
    "fashion": ("连衣裙", "运动鞋", "包包", "羽绒服"),
    "beauty": ("面霜", "口红", "香水", "精华液"),
    "home": ("咖啡机", "吸尘器", "四件套", "锅具"),
    "groceries": ("橄榄油", "咖啡豆", "绿茶", "零食"),
    "sports": ("瑜伽垫", "跑鞋", "哑铃", "帐篷"),
    "books": ("小说", "菜谱", "笔记本", "漫画"),
    "toys": ("乐高", "桌游", "毛绒玩具", "拼图"),
    "jewelry": ("项链", "金戒指", "手表", "耳环"),
    "health": ("维生素", "蛋白粉", "按摩枪", "鱼油"),
}

PREMIUM_BRANDS: dict[str, tuple[str, ...]] = {
    "electronics": ("Apple", "Sony", "Bose"),
    "fashion": ("Gucci", "Burberry", "Max Mara"),
    "beauty": ("La Mer", "Dior", "Estee Lauder"),
    "home": ("Dyson", "Le Creuset", "Smeg"),
    "groceries": ("Godiva", "Illy", "organic imported"),
    "sports": ("Arcteryx", "Lululemon", "Wilson Pro"),
    "books": ("Folio Society", "leather-bound", "signed first edition"),
    "toys": ("LEGO", "Steiff", "Hape"),
    "jewelry": ("Cartier", "Tiffany", "Rolex"),
    "health": ("Theragun", "Omron", "Thorne"),
}

BUDGET_BRANDS: dict[str, tuple[str, ...]] = {
    "electronics": ("Xiaomi", "Anker", "no-brand"),
    "fashion": ("Shein", "Primark", "H&M"),
    "beauty": ("Maybelline", "Nivea", "e.l.f."),
    "home": ("IKEA", "Mainstays", "generic"),
    "groceries": ("store brand", "value pack", "Great Value"),
    "sports": ("Decathlon", "Amazon Basics", "no-brand"),
    "books": ("used paperback", "Dover", "secondhand"),
    "toys": ("dollar store", "Melissa", "generic"),
    "jewelry": ("Pandora", "silver plated", "fashion"),
    "health": ("Kirkland", "generic", "Nature Made"),
}

# Query templates by kind; {p} = product, {b} = brand of the matching price level.
QUERY_TEMPLATES_EN: dict[str, tuple[str, ...]] = {
    "neutral": ("{p}", "{p} black", "{p} for women", "{p} for men", "{p} reviews", "{p} set",
                "{p} 2025", "{p} size guide", "white {p}"),
    "premium": ("{b} {p}", "luxury {p}", "designer {p}", "{p} premium", "genuine {b} {p}",
                "{p} flagship model", "limited edition {p}", "handmade {p}"),
    "budget": ("{b} {p}", "cheap {p}", "{p} on sale", "{p} under 20", "discount {p}",
               "{p} clearance", "best value {p}", "{p} coupon code"),
    "up": ("upgrade {p}", "best {p} to buy", "{p} gift ideas", "{p} new collection",
           "pre order {p}", "{p} for new apartment"),
    "down": ("{p} return policy", "refund {p}", "used {p}", "second hand {p}", "{p} rental",
             "cancel membership", "sell my {p}"),
}

QUERY_TEMPLATES_ZH: dict[str, tuple[str, ...]] = {
    "neutral": ("{p}", "{p} 新款", "{p} 推荐", "{p} 黑色"),
    "premium": ("{b} {p}", "高端 {p}", "{p} 正品", "{p} 奢侈品"),
    "budget": ("便宜 {p}", "{p} 打折", "{p} 特价", "{p} 优惠券"),
    "up": ("{p} 升级款", "{p} 送礼", "新家 {p}"),
    "down": ("{p} 退货", "二手 {p}", "{p} 退款"),
}

# Review sentences by kind; {p} = product, {b} = brand of the matching price level.
REVIEW_TEMPLATES_EN: dict[str, tuple[str, ...]] = {
    "premium": ("The {b} {p} feels genuinely premium.",
                "Worth every penny, the craftsmanship on this {p} is superb.",
                "I only buy {b} and this {p} did not disappoint.",
                "Elegant finish, you can tell it is a high-end {p}.",
                "Paid full price for the {b} {p} and have no regrets.",
                "Beautiful materials, a proper luxury {p}.",
                "Went for the top model of this {p}, the quality shows."),
    "budget": ("Got this {p} on sale, cheap and does the job.",
               "Great value for money, I waited for a coupon.",
               "The {b} {p} is basic but the price was unbeatable.",
               "Not fancy but affordable, would buy again at this price.",
               "Used a discount code, good deal for a {p}.",
               "Cheapest {p} I could find and it works.",
               "Bought the {b} {p} in the clearance sale."),
    "up": ("Planning to upgrade a lot more of our stuff soon.",
           "Bought this {p} for our new home, more orders to come.",
           "Next time I will get the pro version of this {p}.",
           "Starting to build my collection, ordering more next month.",
           "Getting a few more of these as gifts for the family."),
    "down": ("Trying to cut back on spending for a while.",
             "Probably my last order here for some time.",
             "Budget is tight this year so I will hold off on more.",
             "Moving abroad soon, not sure I will keep shopping here.",
             "Cancelling my membership after this {p}."),
    "pos": ("Love it!", "Arrived quickly and works perfectly.",
            "Exactly as described, very happy with this {p}.", "Five stars, would recommend.",
            "My family loves this {p}.", "Great {p}, fast shipping."),
    "neu": ("It is okay.", "Does what it says.", "Average {p}, nothing special.",
            "Delivery took a few days.", "Fits as expected.", "The {p} is fine I guess."),
    "neg": ("Broke after a week, disappointed.", "Not as described, returning this {p}.",
            "Poor quality, would not buy again.", "Arrived damaged and support was slow.",
            "Smaller than expected.", "Terrible {p}, waste of money."),
}

REVIEW_TEMPLATES_ZH: dict[str, tuple[str, ...]] = {
    "premium": ("{b}的{p}做工精致，很有质感", "正品{p}，贵是贵但值得", "高端大气，{p}品质一流",
                "一直只买{b}，这次也没让我失望"),
    "budget": ("趁打折买的{p}，很划算", "价格便宜，性价比高", "用了优惠券，{p}物美价廉",
               "{b}的{p}，便宜好用"),
    "up": ("刚搬新家，准备再买几件", "下次想买更高端的{p}", "打算多囤一些送朋友"),
    "down": ("最近预算紧，先不买了", "以后只买特价商品了", "准备注销会员了"),
    "pos": ("质量很好，物超所值", "包装精美，值得购买", "物流很快，好评", "非常满意，会回购"),
    "neu": ("和描述一致", "还行吧，一般般", "{p}收到了，还没用"),
    "neg": ("质量一般，有点失望", "退货了，不推荐", "收到有破损，客服不理人"),
}

# Identical ads posted by many accounts (picked Zipf-like), plus a templated one with a code.
SPAM_REVIEWS: tuple[str, ...] = (
    "BEST PRICES!!! Visit www.super-deals4u.example.com for 90% OFF $$$$ ★★★★★",
    "Make $5000/week from home >>> http://bit.ly/earn-fast-now <<< DM me",
    "🔥🔥🔥 FREE GIFT CARD 🔥🔥🔥 click http://free-gift.example/claim",
    "Follow my shop @cheap_lux_outlet for replica bags, wholesale prices!!! www.lux-outlet.example",
    "加微信 wx_8888 领优惠券 http://tb-coupon.example.cn ￥￥￥￥",
    "Cheap followers & likes → www.growfast.example ###########",
    "!!!!!!!! CLICK HERE http://win-prize.example/now !!!!!!!!",
    "Crypto signals 1000x guaranteed t.me/moonpump_signals $$$$$$",
)
SPAM_CODE_TEMPLATE = "Use code {code} at http://promo-{code}.example/deal for 70% OFF!!! $$$$"
SPAM_QUERIES: tuple[str, ...] = (
    "buy cheap followers www.growfast.example", "$$$ free iphone $$$ http://win.example",
    "replica bags wholesale wx_8888", "casino bonus http://spin.example ####",
)

FIRST_NAMES = ("john", "mary", "wei", "li", "anna", "carlos", "fatima", "james", "yuki", "sofia",
               "ahmed", "emma", "chen", "lucas", "olga", "raj")
LAST_NAMES = ("smith", "wang", "garcia", "mueller", "zhang", "brown", "khan", "silva", "kim", "rossi")
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "qq.com", "163.com", "hotmail.com")
PII_REVIEW_EN = ("Contact me at {email} if you want details.", "Seller please call me back at {phone}.",
                 "They charged my card {card} twice!", "Message me on {phone} for a discount.",
                 "my email is {email}")
PII_REVIEW_ZH = ("有问题联系我 {phone}", "电话{phone}", "邮箱 {email}")
PII_QUERY = ("track order {phone}", "{email}", "refund card {card}", "{email} password reset")

# name, population share, affluence shift, P(user speaks Chinese)
REGIONS: tuple[tuple[str, float, float, float], ...] = (
    ("NA", 0.28, 0.25, 0.01), ("EU", 0.25, 0.20, 0.01), ("CN", 0.12, 0.0, 0.90),
    ("SEA", 0.15, -0.25, 0.15), ("LATAM", 0.12, -0.30, 0.01), ("MEA", 0.08, 0.0, 0.01),
)
CHANNELS = ("organic", "ads", "referral", "social")
CHANNEL_SHARES = (0.45, 0.3, 0.15, 0.1)
