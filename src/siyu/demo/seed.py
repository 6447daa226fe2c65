"""The demo brand: HQ, 3 regions, 24 stores (direct and franchised), 2 warehouses and staff.

Seeded through the real services with a system actor, so the demo exercises the same rules,
audit entries and events as production. Deterministic: the same data every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from siyu.access.passwords import hash_password
from siyu.access.rules import ROLE_LABELS, Role, system_actor
from siyu.brands.models import Brand
from siyu.brands.service import create_brand
from siyu.demo.mall import MallResult, delete_brand_data, mall_counts, seed_demo_mall
from siyu.demo.members import MembersResult, seed_demo_members
from siyu.org.models import Ownership
from siyu.org.schemas import FranchiseeCreate, RegionCreate, StoreCreate, WarehouseCreate
from siyu.org.service import create_franchisee, create_region, create_store, create_warehouse
from siyu.staff.models import Staff
from siyu.staff.schemas import StaffCreate
from siyu.staff.service import hire_staff

DEMO_SLUG = "demo"
DEMO_NAME = "Jinxiu Apparel 锦绣服饰"
DEMO_PASSWORD = "siyu-demo-2026"  # noqa: S105 - the published demo password

# (code, name, city, lat, lng, [(store suffix, district, franchisee code or None)])
StoreSeed = tuple[str, str, str, float, float, str | None]
REGIONS: list[tuple[str, str, list[StoreSeed]]] = [
    (
        "EAST",
        "East China 华东",
        [
            (
                "SH01",
                "Shanghai Nanjing Road 南京路店",
                "上海市黄浦区南京东路 300 号",
                31.2362,
                121.4802,
                None,
            ),
            (
                "SH02",
                "Shanghai Xujiahui 徐家汇店",
                "上海市徐汇区虹桥路 1 号",
                31.1950,
                121.4370,
                None,
            ),
            (
                "SH03",
                "Shanghai Pudong Century 世纪大道店",
                "上海市浦东新区世纪大道 8 号",
                31.2354,
                121.5060,
                None,
            ),
            (
                "HZ01",
                "Hangzhou West Lake 西湖店",
                "杭州市上城区湖滨路 2 号",
                30.2570,
                120.1620,
                None,
            ),
            (
                "HZ02",
                "Hangzhou Binjiang 滨江店",
                "杭州市滨江区江南大道 99 号",
                30.2080,
                120.2110,
                "F-HENGYUAN",
            ),
            (
                "NJ01",
                "Nanjing Xinjiekou 新街口店",
                "南京市秦淮区中山南路 1 号",
                32.0410,
                118.7840,
                None,
            ),
            (
                "SZ01",
                "Suzhou Guanqian 观前街店",
                "苏州市姑苏区观前街 18 号",
                31.3110,
                120.6280,
                "F-HENGYUAN",
            ),
            (
                "NB01",
                "Ningbo Tianyi 天一广场店",
                "宁波市海曙区中山东路 188 号",
                29.8690,
                121.5560,
                "F-HENGYUAN",
            ),
        ],
    ),
    (
        "SOUTH",
        "South China 华南",
        [
            (
                "GZ01",
                "Guangzhou Tianhe 天河城店",
                "广州市天河区天河路 208 号",
                23.1320,
                113.3230,
                None,
            ),
            (
                "GZ02",
                "Guangzhou Beijing Road 北京路店",
                "广州市越秀区北京路 88 号",
                23.1250,
                113.2690,
                None,
            ),
            (
                "SZ11",
                "Shenzhen Coastal City 海岸城店",
                "深圳市南山区文心五路 33 号",
                22.5170,
                113.9370,
                None,
            ),
            (
                "SZ12",
                "Shenzhen Luohu 罗湖店",
                "深圳市罗湖区人民南路 3 号",
                22.5410,
                114.1180,
                "F-NANYUE",
            ),
            (
                "FS01",
                "Foshan Zumiao 祖庙店",
                "佛山市禅城区祖庙路 23 号",
                23.0300,
                113.1100,
                "F-NANYUE",
            ),
            (
                "DG01",
                "Dongguan Dongcheng 东城店",
                "东莞市东城区东纵大道 1 号",
                23.0200,
                113.7700,
                "F-NANYUE",
            ),
            (
                "XM01",
                "Xiamen Zhongshan Road 中山路店",
                "厦门市思明区中山路 100 号",
                24.4560,
                118.0790,
                None,
            ),
            (
                "FZ01",
                "Fuzhou Dongjiekou 东街口店",
                "福州市鼓楼区八一七北路 68 号",
                26.0860,
                119.2960,
                None,
            ),
        ],
    ),
    (
        "NORTH",
        "North China 华北",
        [
            (
                "BJ01",
                "Beijing Wangfujing 王府井店",
                "北京市东城区王府井大街 255 号",
                39.9140,
                116.4110,
                None,
            ),
            (
                "BJ02",
                "Beijing Sanlitun 三里屯店",
                "北京市朝阳区三里屯路 19 号",
                39.9340,
                116.4540,
                None,
            ),
            (
                "BJ03",
                "Beijing Zhongguancun 中关村店",
                "北京市海淀区中关村大街 15 号",
                39.9830,
                116.3160,
                None,
            ),
            (
                "TJ01",
                "Tianjin Binjiang Road 滨江道店",
                "天津市和平区滨江道 200 号",
                39.1200,
                117.1930,
                "F-BEICHEN",
            ),
            (
                "SJZ1",
                "Shijiazhuang Beiguo 北国店",
                "石家庄市长安区中山东路 188 号",
                38.0430,
                114.5140,
                "F-BEICHEN",
            ),
            (
                "TY01",
                "Taiyuan Liuxiang 柳巷店",
                "太原市迎泽区柳巷南路 9 号",
                37.8650,
                112.5620,
                None,
            ),
            (
                "JN01",
                "Jinan Quancheng 泉城路店",
                "济南市历下区泉城路 180 号",
                36.6650,
                117.0260,
                None,
            ),
            (
                "QD01",
                "Qingdao Taidong 台东店",
                "青岛市市北区台东三路 66 号",
                36.0840,
                120.3590,
                "F-BEICHEN",
            ),
        ],
    ),
]

FRANCHISEES = [
    ("F-HENGYUAN", "Hengyuan Trading Co. 恒远商贸", "Chen Jing 陈静", "13916000001"),
    ("F-NANYUE", "Nanyue Retail Co. 南粤零售", "Liang Hao 梁浩", "13826000002"),
    ("F-BEICHEN", "Beichen Commerce Co. 北辰商业", "Zhao Lei 赵磊", "13911000003"),
]

WAREHOUSES = [
    ("WH-EAST", "East China DC 华东仓 (Kunshan)", "EAST", "昆山市花桥镇物流园 1 号"),
    ("WH-SOUTH", "South China DC 华南仓 (Guangzhou)", "SOUTH", "广州市白云区太和镇物流园 8 号"),
]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "静丽敏婷雪琳娜颖慧晶欣怡佳悦涵宇浩杰磊"
OPENING_HOURS = ["10:00-22:00", "mon-thu 10:00-21:30; fri-sun 10:00-22:30", "09:30-21:30"]


@dataclass
class DemoResult:
    created: bool
    regions: int = 0
    stores: int = 0
    franchise_stores: int = 0
    warehouses: int = 0
    staff: int = 0
    sample_logins: list[tuple[str, str, str]] = field(default_factory=list)
    mall: MallResult = field(default_factory=MallResult)
    members: MembersResult = field(default_factory=MembersResult)


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _sample_logins() -> list[tuple[str, str, str]]:
    return [
        (ROLE_LABELS[Role.BRAND_ADMIN], "admin", "the whole brand, audit log, integrations"),
        (ROLE_LABELS[Role.HQ_OPERATOR], "hq-ops1", "the whole brand"),
        (ROLE_LABELS[Role.REGION_MANAGER], "east-manager", "East China: 8 stores"),
        (ROLE_LABELS[Role.FRANCHISEE_OWNER], "f-hengyuan", "Hengyuan's 3 franchised stores"),
        (ROLE_LABELS[Role.STORE_MANAGER], "sh01-manager", "store SH01"),
        (ROLE_LABELS[Role.GUIDE], "sh01-guide1", "only themself"),
    ]


def _counts(session: Session, brand: Brand) -> DemoResult:
    from sqlalchemy import func

    from siyu.org.models import Region, StockLocation, Store

    def count(model: Any, *conditions: ColumnElement[bool]) -> int:
        return (
            session.scalar(
                select(func.count())
                .select_from(model)
                .where(model.brand_id == brand.id, *conditions)
            )
            or 0
        )

    return DemoResult(
        created=False,
        regions=count(Region),
        stores=count(Store),
        franchise_stores=count(Store, Store.ownership == "franchise"),
        warehouses=count(StockLocation, StockLocation.kind == "warehouse"),
        staff=count(Staff),
        sample_logins=_sample_logins(),
    )


def seed_demo(session: Session, *, reset: bool = False) -> DemoResult:
    """Create the demo brand, its mall (siyu.demo.mall) and its touchpoints, member journeys
    and POS data (siyu.demo.members) unless they exist (``reset``
    deletes the brand first). Idempotent."""
    existing = session.scalar(select(Brand).where(Brand.slug == DEMO_SLUG))
    if existing is not None and not reset:
        counts = _counts(session, existing)
        # A demo database made before the mall existed gets its mall; otherwise a no-op.
        existing_actor = system_actor(existing.id, "demo seed")
        counts.mall = seed_demo_mall(session, existing, existing_actor)
        counts.members = seed_demo_members(session, existing, existing_actor)
        counts.mall = mall_counts(session, existing.id)
        return counts
    if existing is not None:
        delete_brand_data(session, existing.id)
        session.execute(delete(Brand).where(Brand.id == existing.id))
        session.flush()
    rng = random.Random(20261122)  # noqa: S311 - deterministic demo data
    brand = create_brand(session, slug=DEMO_SLUG, name=DEMO_NAME)
    actor = system_actor(brand.id, "demo seed")
    franchisees = {
        code: create_franchisee(
            session,
            actor,
            FranchiseeCreate(code=code, name=name, contact_name=contact, contact_phone=phone),
        )
        for code, name, contact, phone in FRANCHISEES
    }
    result = DemoResult(created=True, sample_logins=_sample_logins())
    password_hash = hash_password(DEMO_PASSWORD)
    staff_rows: list[Staff] = []

    def hire(data: StaffCreate) -> None:
        staff_rows.append(hire_staff(session, actor, data))

    hire(
        StaffCreate(
            code="HQ001",
            name="Su Wen 苏文",
            role=Role.BRAND_ADMIN,
            login="admin",
            phone="13800000001",
            email="admin@jinxiu.example",
        )
    )
    for n in (1, 2):
        hire(
            StaffCreate(
                code=f"HQ00{n + 1}",
                name=_person(rng),
                role=Role.HQ_OPERATOR,
                login=f"hq-ops{n}",
                phone=f"1380000000{n + 1}",
            )
        )
    for owner_code, franchisee in franchisees.items():
        hire(
            StaffCreate(
                code=f"FO-{owner_code[2:]}",
                name=franchisee.contact_name or owner_code,
                role=Role.FRANCHISEE_OWNER,
                franchisee_id=franchisee.id,
                login=owner_code.lower(),
                phone=franchisee.contact_phone,
            )
        )
    phone_serial = 1000
    region_ids: dict[str, int] = {}
    for region_code, region_name, stores in REGIONS:
        region = create_region(session, actor, RegionCreate(code=region_code, name=region_name))
        region_ids[region_code] = region.id
        result.regions += 1
        hire(
            StaffCreate(
                code=f"RM-{region_code}",
                name=_person(rng),
                role=Role.REGION_MANAGER,
                region_id=region.id,
                login=f"{region_code.lower()}-manager",
                phone=f"1370000{len(staff_rows):04d}",
            )
        )
        for code, name, address, lat, lng, f_code in stores:
            store = create_store(
                session,
                actor,
                StoreCreate(
                    code=code,
                    name=name,
                    region_id=region.id,
                    ownership=Ownership.FRANCHISE if f_code else Ownership.DIRECT,
                    franchisee_id=franchisees[f_code].id if f_code else None,
                    address=address,
                    latitude=Decimal(str(lat)),
                    longitude=Decimal(str(lng)),
                    opening_hours=rng.choice(OPENING_HOURS),
                    phone=f"021-6{rng.randrange(10**6, 10**7)}",
                ),
            )
            result.stores += 1
            result.franchise_stores += 1 if f_code else 0
            hire(
                StaffCreate(
                    code=f"{code}-M",
                    name=_person(rng),
                    role=Role.STORE_MANAGER,
                    store_id=store.id,
                    login=f"{code.lower()}-manager",
                    phone=f"1390000{phone_serial:04d}",
                )
            )
            phone_serial += 1
            for n in range(1, rng.randint(4, 8) + 1):
                hire(
                    StaffCreate(
                        code=f"{code}-G{n}",
                        name=_person(rng),
                        role=Role.GUIDE,
                        store_id=store.id,
                        login=f"{code.lower()}-guide{n}",
                        phone=f"1390000{phone_serial:04d}",
                    )
                )
                phone_serial += 1
    for code, name, region_code, address in WAREHOUSES:
        create_warehouse(
            session,
            actor,
            WarehouseCreate(
                code=code, name=name, region_id=region_ids[region_code], address=address
            ),
        )
        result.warehouses += 1
    # One shared, published password: hashing it once keeps seeding fast.
    for row in staff_rows:
        row.password_hash = password_hash
    result.staff = len(staff_rows)
    session.flush()
    result.mall = seed_demo_mall(session, brand, actor)
    result.members = seed_demo_members(session, brand, actor)
    result.mall = mall_counts(session, brand.id)
    return result
